import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { describeDatabase } from '../database/describe-database';
import { Organization, OrganizationKind } from '../organizations/organization.entity';
import { User } from '../users/user.entity';
import {
  emailOf,
  ROOT_ORGANIZATION_ID,
  ROOT_ORGANIZATION_NAME,
  ROOT_USER_ID,
  ROOT_USER_NAME,
  SAMPLE_CUSTOMERS,
  SAMPLE_ROOT_USERS,
  SampleUser,
} from './seed-data';

export interface SeedInput {
  /** Lower-cased login for the root user; needed only when it does not exist yet. */
  rootLogin?: string;
  /** argon2 PHC string: the new root user's password, or the replacement with `resetPassword`. */
  rootPasswordHash?: string;
  /** Replace an existing root user's password (otherwise an existing root user is left alone). */
  resetPassword: boolean;
}

export type RootUserOutcome = 'created' | 'present' | 'password reset';

export interface SeedReport {
  organizations: { created: string[]; present: string[] };
  users: { created: string[]; present: string[]; skipped: string[] };
  root: { login: string; outcome: RootUserOutcome };
}

/**
 * Creates the sample data of the Python sample's `create_db.py` (docs/protocols.md) in one
 * transaction. Every row has a fixed id; a row whose id exists is left as it is, so running the
 * seed again changes nothing. No domain events are recorded: this is initial data, not a change
 * a subscriber has to hear about.
 */
@Injectable()
export class SeedService {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /** The root user's current login, or null before the first seed. */
  async rootLogin(): Promise<string | null> {
    const root = await this.dataSource.manager.findOneBy(User, { id: ROOT_USER_ID });
    return root?.login ?? null;
  }

  /** A short description of the target database for the summary (never the password of a URL). */
  describeDatabase(): string {
    return describeDatabase(this.dataSource);
  }

  seed(input: SeedInput): Promise<SeedReport> {
    return this.dataSource.transaction(async (em) => {
      const report: SeedReport = {
        organizations: { created: [], present: [] },
        users: { created: [], present: [], skipped: [] },
        root: { login: '', outcome: 'present' },
      };
      await this.ensureOrganization(em, report, { id: ROOT_ORGANIZATION_ID, parentId: null, name: ROOT_ORGANIZATION_NAME, kind: OrganizationKind.Partner });
      // Before the sample users: the root login the operator chose wins over a sample login.
      report.root = await this.ensureRootUser(em, input);
      for (const customer of SAMPLE_CUSTOMERS) {
        await this.ensureOrganization(em, report, { id: customer.id, parentId: ROOT_ORGANIZATION_ID, name: customer.name, kind: OrganizationKind.Customer });
        await this.ensureUser(em, report, customer.user, customer.id);
      }
      for (const user of SAMPLE_ROOT_USERS) {
        await this.ensureUser(em, report, user, ROOT_ORGANIZATION_ID);
      }
      return report;
    });
  }

  private async ensureOrganization(em: EntityManager, report: SeedReport, org: Organization): Promise<void> {
    if (await em.existsBy(Organization, { id: org.id })) {
      report.organizations.present.push(org.name);
      return;
    }
    await em.insert(Organization, org);
    report.organizations.created.push(org.name);
  }

  private async ensureRootUser(em: EntityManager, input: SeedInput): Promise<SeedReport['root']> {
    const existing = await em.findOneBy(User, { id: ROOT_USER_ID });
    if (existing) {
      if (!input.resetPassword) return { login: existing.login, outcome: 'present' };
      if (!input.rootPasswordHash) throw new Error('--reset-password needs the new password.');
      await em.update(User, { id: ROOT_USER_ID }, { password: input.rootPasswordHash });
      return { login: existing.login, outcome: 'password reset' };
    }
    const { rootLogin: login, rootPasswordHash: password } = input;
    if (!login || !password) throw new Error('The root user does not exist yet: its login and password are needed.');
    if (await em.existsBy(User, { login })) {
      throw new Error(`The login "${login}" already belongs to another user; choose another root login.`);
    }
    await em.insert(User, { id: ROOT_USER_ID, login, name: ROOT_USER_NAME, email: emailOf(login), password, organizationId: ROOT_ORGANIZATION_ID });
    return { login, outcome: 'created' };
  }

  private async ensureUser(em: EntityManager, report: SeedReport, user: SampleUser, organizationId: string): Promise<void> {
    if (await em.existsBy(User, { id: user.id })) {
      report.users.present.push(user.login);
      return;
    }
    // Logins are unique across the service: one taken by someone else (e.g. the root) is not stolen.
    if (await em.existsBy(User, { login: user.login })) {
      report.users.skipped.push(user.login);
      return;
    }
    await em.insert(User, { ...user, password: null, organizationId });
    report.users.created.push(user.login);
  }
}
