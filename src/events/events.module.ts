import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DomainEvent } from './event.entity';
import { OutboxBackpressure } from './outbox-backpressure';
import { OutboxService } from './outbox.service';

@Module({
  imports: [TypeOrmModule.forFeature([DomainEvent])],
  providers: [OutboxService, OutboxBackpressure],
  exports: [OutboxService, OutboxBackpressure],
})
export class EventsModule {}
