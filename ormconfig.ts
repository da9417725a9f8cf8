import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { readDatabaseConfig } from './src/config/database.config';
import { loadEnvFile } from './src/config/env-file';
import { buildDataSourceOptions } from './src/database/data-source-options';

/** The one TypeORM DataSource of the migration CLI; the app builds its own from the same options. */
loadEnvFile();
export default new DataSource(buildDataSourceOptions(readDatabaseConfig()));
