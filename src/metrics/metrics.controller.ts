import { Controller, Get, Headers, Inject, Res } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProduces, ApiSecurity, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { createHash, timingSafeEqual } from 'node:crypto';
import { ApiErrorResponses } from '../callbacks/callback-envelope.schema';
import { AUTH_FAILED_MESSAGE, DomainError, ErrorCode } from '../common/domain-error';
import { metricsConfig, MetricsConfig } from '../config/metrics.config';
import { METRICS_TOKEN_SCHEME } from '../openapi';
import { MetricsService } from './metrics.service';

const digest = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest();

/**
 * `GET /metrics`: Prometheus text format. With METRICS_TOKEN set it needs `Authorization: Bearer
 * <token>` (401 in the error envelope otherwise); with METRICS_ENABLED=false it answers 404 like
 * an unknown route.
 */
@ApiTags('operations')
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
  @ApiOperation({
    summary: 'Prometheus metrics (text format)',
    description: "Needs `Authorization: Bearer <METRICS_TOKEN>` when METRICS_TOKEN is set; open otherwise. The security listed is this instance's.",
  })
  @ApiSecurity(METRICS_TOKEN_SCHEME)
  @ApiProduces('text/plain')
  @ApiOkResponse({ description: 'The Prometheus text exposition format (version 0.0.4).', content: { 'text/plain': { schema: { type: 'string' } } } })
  @ApiErrorResponses(401)
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
