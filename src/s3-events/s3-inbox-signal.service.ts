import { Injectable } from '@nestjs/common';
import { Subject } from 'rxjs';

/** Fires when records were committed to the inbox (or replayed), so the worker looks at once instead of at its next poll. */
@Injectable()
export class S3InboxSignal {
  readonly stored$ = new Subject<void>();

  notify(): void {
    this.stored$.next();
  }
}
