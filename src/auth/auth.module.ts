import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { MetricsRegistryModule } from '../metrics/metrics-registry.module';
import { User } from '../users/user.entity';
import { AuthFailureLimiter } from './auth-failure-limiter.service';
import { CredentialCache } from './credential-cache.service';
import { CyberAppAuthGuard } from './cyberapp-auth.guard';
import { PasswordHasher } from './password-hasher.service';
import { PlatformJwtGuard } from './platform-jwt.guard';

@Module({
  imports: [TypeOrmModule.forFeature([User]), MetricsRegistryModule],
  providers: [PasswordHasher, CredentialCache, AuthFailureLimiter, CyberAppAuthGuard, PlatformJwtGuard],
  // TypeOrmModule and the metrics registry too: a guard named in @UseGuards is built in the using
  // module, which needs its repository and the registry it counts failures in.
  exports: [TypeOrmModule, MetricsRegistryModule, PasswordHasher, CredentialCache, CyberAppAuthGuard, PlatformJwtGuard, AuthFailureLimiter],
})
export class AuthModule {}
