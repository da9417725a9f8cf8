import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { Lease } from './lease.entity';
import { LeaseService } from './lease.service';
import { SqliteCheckpointer } from './sqlite-checkpointer.service';
import { TransactionRunner } from './transaction-runner.service';

/** Shared database helpers; the connection itself is TypeOrmModule.forRootAsync in AppModule. */
@Module({
  imports: [TypeOrmModule.forFeature([Lease])],
  providers: [TransactionRunner, LeaseService, SqliteCheckpointer],
  exports: [TransactionRunner, LeaseService],
})
export class DatabaseModule {}
