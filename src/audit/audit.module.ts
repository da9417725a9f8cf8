import { Module } from '@nestjs/common';
import { ConfigModule } from '@nestjs/config';
import { AuthModule } from '../auth/auth.module';
import { auditConfig } from '../config/audit.config';
import { DatabaseModule } from '../database/database.module';
import { AuditController } from './audit.controller';
import { AuditQueryService } from './audit-query.service';
import { AuditRetentionJob } from './audit-retention.job';
import { AuditService } from './audit.service';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AuditRecord } from './audit-record.entity';

/**
 * The audit trail (docs/audit.md): the writer every recording module uses, the API
 * `/api/audit` and the retention sweep. Each module whose work is recorded imports it; it depends
 * on the database helpers and the auth guard only, so nothing it imports imports it back.
 */
@Module({
  imports: [TypeOrmModule.forFeature([AuditRecord]), ConfigModule.forFeature(auditConfig), AuthModule, DatabaseModule],
  controllers: [AuditController],
  providers: [AuditService, AuditQueryService, AuditRetentionJob],
  exports: [AuditService, AuditQueryService],
})
export class AuditModule {}
