import { Injectable, OnModuleDestroy } from '@nestjs/common';
import { Observable, Subject } from 'rxjs';

/** Why a connector run was asked for ahead of its schedule. */
export interface ConnectorRunRequest {
  /** Who asked: the intake API (`send_now`), or "send now" on one item (API or console). */
  reason: 'intake' | 'send-now';
  organizationId: string;
  /** The items of the request (new ones and replays); the run sends whatever is due anyway. */
  itemIds: string[];
}

/**
 * Asks for a connector run now. The job subscribes to `requests$` and decides what to do with
 * bursts (a run already in progress, another replica holding the lease); callers only ask.
 * Requests are per process: on another replica the next scheduled run picks the items up.
 */
@Injectable()
export class ConnectorTrigger implements OnModuleDestroy {
  private readonly subject = new Subject<ConnectorRunRequest>();
  readonly requests$: Observable<ConnectorRunRequest> = this.subject.asObservable();

  request(request: ConnectorRunRequest): void {
    this.subject.next(request);
  }

  onModuleDestroy(): void {
    this.subject.complete();
  }
}
