import { Module } from '@nestjs/common';

/** Approval pre-/post-hooks (issue 7). */
@Module({})
export class HooksModule {}
