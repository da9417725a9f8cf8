import { Module } from '@nestjs/common';

/** WebSocket action channel (issue 9). */
@Module({})
export class ActionsModule {}
