import { Controller, Get } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { HealthCheck, HealthCheckService, TypeOrmHealthIndicator } from '@nestjs/terminus';

/** Liveness and readiness probes: no credentials. */
@ApiTags('operations')
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly db: TypeOrmHealthIndicator,
  ) {}

  /** The process is up and serving. */
  @Get('live')
  @ApiOperation({ summary: 'Liveness: the process is up (no credentials)' })
  @HealthCheck()
  live() {
    return this.health.check([]);
  }

  /** The process can serve callbacks: the database answers. */
  @Get('ready')
  @ApiOperation({ summary: 'Readiness: the database answers within 2 s (no credentials); 503 in the error envelope otherwise' })
  @HealthCheck()
  ready() {
    return this.health.check([() => this.db.pingCheck('database', { timeout: 2000 })]);
  }
}
