import { Controller, Get, Headers, Inject, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { createHash, timingSafeEqual } from 'node:crypto';
import { AUTH_FAILED_MESSAGE, DomainError, ErrorCode } from '../common/domain-error';
import { metricsConfig, MetricsConfig } from '../config/metrics.config';
import { MetricsService } from './metrics.service';

const digest = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest();

/**
 * `GET /metrics`: Prometheus text format. With METRICS_TOKEN set it needs `Authorization: Bearer
 * <token>` (401 in the error envelope otherwise); with METRICS_ENABLED=false it answers 404 like
 * an unknown route.
 */
@ApiExcludeController()
@Controller('metrics')
export class MetricsController {
  /** Compared by digest: equal lengths for timingSafeEqual, and nothing about the token's length leaks. */
  private readonly tokenDigest: Buffer | null;

  constructor(
    private readonly metrics: MetricsService,
    @Inject(metricsConfig.KEY) private readonly config: MetricsConfig,
  ) {
    this.tokenDigest = config.token === null ? null : digest(config.token);
  }

  @Get()
  async scrape(@Headers('authorization') authorization: string | undefined, @Res({ passthrough: true }) reply: FastifyReply): Promise<string> {
    if (!this.config.enabled) throw new DomainError(ErrorCode.NotFound, 'Not found.');
    if (this.tokenDigest !== null) {
      const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
      if (!match || !timingSafeEqual(digest(match[1]), this.tokenDigest)) {
        throw new DomainError(ErrorCode.Unauthenticated, AUTH_FAILED_MESSAGE, { 'www-authenticate': 'Bearer' });
      }
    }
    const body = await this.metrics.scrape();
    void reply.header('content-type', this.metrics.contentType);
    return body;
  }
}
