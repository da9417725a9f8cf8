import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DomainEvent } from './event.entity';
import { OutboxService } from './outbox.service';

@Module({
  imports: [TypeOrmModule.forFeature([DomainEvent])],
  providers: [OutboxService],
  exports: [OutboxService],
})
export class EventsModule {}
