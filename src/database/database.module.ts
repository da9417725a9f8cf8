import { Module } from '@nestjs/common';
import { LeaseService } from './lease.service';
import { SqliteCheckpointer } from './sqlite-checkpointer.service';
import { TransactionRunner } from './transaction-runner.service';

/** Shared database helpers; the connection itself is TypeOrmModule.forRootAsync in AppModule. */
@Module({
  providers: [TransactionRunner, LeaseService, SqliteCheckpointer],
  exports: [TransactionRunner, LeaseService],
})
export class DatabaseModule {}
