import { Module } from '@nestjs/common';
import { ActionHandlerCommand } from './action-handler.command';

/** The action handler client alone: no database, no configuration of the service. */
@Module({ providers: [ActionHandlerCommand] })
export class ActionHandlerCliModule {}
