import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { User } from '../users/user.entity';
import { AuthFailureLimiter } from './auth-failure-limiter.service';
import { CredentialCache } from './credential-cache.service';
import { CyberAppAuthGuard } from './cyberapp-auth.guard';
import { PasswordHasher } from './password-hasher.service';
import { PlatformJwtGuard } from './platform-jwt.guard';

@Module({
  imports: [TypeOrmModule.forFeature([User])],
  providers: [PasswordHasher, CredentialCache, AuthFailureLimiter, CyberAppAuthGuard, PlatformJwtGuard],
  // TypeOrmModule too: a guard named in @UseGuards is built in the using module, which needs its repository.
  exports: [TypeOrmModule, PasswordHasher, CredentialCache, CyberAppAuthGuard, PlatformJwtGuard, AuthFailureLimiter],
})
export class AuthModule {}
