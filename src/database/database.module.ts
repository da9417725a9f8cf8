import { Module } from '@nestjs/common';
import { TransactionRunner } from './transaction-runner.service';

/** Shared database helpers; the connection itself is TypeOrmModule.forRootAsync in AppModule. */
@Module({
  providers: [TransactionRunner],
  exports: [TransactionRunner],
})
export class DatabaseModule {}
