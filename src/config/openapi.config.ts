import { registerAs } from '@nestjs/config';
import { IsBoolean, IsOptional } from 'class-validator';
import { EnvBoolean, validateConfig } from './validate-config';

class OpenApiEnv {
  /** Serve the OpenAPI document at `/api/docs-json` and Swagger UI at `/api/docs`. */
  @IsOptional() @EnvBoolean() @IsBoolean()
  OPENAPI_ENABLED: boolean = true;
}

export const openApiConfig = registerAs('openapi', () => {
  const env = validateConfig(process.env, OpenApiEnv);
  return { enabled: env.OPENAPI_ENABLED };
});

export type OpenApiConfig = ReturnType<typeof openApiConfig>;
