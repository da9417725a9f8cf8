import { Injectable } from '@nestjs/common';
import { Subject } from 'rxjs';

/**
 * In-process wake-ups for the dispatcher and the delivery worker, so that a new event or a
 * redelivery goes out at once instead of at the next poll. Only a shortcut: the poll still finds
 * everything (another replica's writes, or a signal sent before its transaction committed).
 */
@Injectable()
export class DeliverySignal {
  /** New undispatched events were committed. */
  readonly events$ = new Subject<void>();
  /** New due deliveries were committed. */
  readonly deliveries$ = new Subject<void>();

  eventsCommitted(): void {
    this.events$.next();
  }

  deliveriesCommitted(): void {
    this.deliveries$.next();
  }
}
