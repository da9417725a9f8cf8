import { Injectable } from '@nestjs/common';
import { Subject } from 'rxjs';

/**
 * In-process wake-ups for the delivery worker, so that a fan-out or a redelivery goes out at once
 * instead of at the next poll. Only a shortcut: the poll still finds everything (another replica's
 * writes, or a signal sent before its transaction committed).
 */
@Injectable()
export class DeliverySignal {
  /** New due deliveries were committed. */
  readonly deliveries$ = new Subject<void>();

  deliveriesCommitted(): void {
    this.deliveries$.next();
  }
}
