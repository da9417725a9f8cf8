import { Column, Entity, PrimaryColumn } from 'typeorm';

export enum ConnectorRunStatus {
  Running = 'running',
  Completed = 'completed',
  Failed = 'failed',
}

/** One pass of the connector job: when, who ran it, and what it did. */
@Entity('connector_runs')
export class ConnectorRun {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id!: string;

  /** schedule | cli | api */
  @Column({ type: 'varchar', length: 16 })
  trigger!: string;

  /** The replica that held the lease. */
  @Column({ type: 'varchar', length: 128 })
  holder!: string;

  @Column({ type: 'varchar', length: 16 })
  status!: ConnectorRunStatus;

  @Column({ name: 'started_at', type: Date })
  startedAt!: Date;

  @Column({ name: 'finished_at', type: Date, nullable: true })
  finishedAt!: Date | null;

  @Column({ type: 'integer', default: 0 })
  sent!: number;

  @Column({ type: 'integer', default: 0 })
  failed!: number;

  /** Items left waiting (unmapped organization, retry not yet due). */
  @Column({ type: 'integer', default: 0 })
  skipped!: number;

  @Column({ type: 'text', nullable: true })
  error!: string | null;
}
