import { InjectDataSource } from '@nestjs/typeorm';
import { Command, CommandRunner, Help } from 'nest-commander';
import { DataSource } from 'typeorm';

const HELP = `
Applies the migrations the database lacks (every command does that first) and lists the applied
ones. The service applies them at start too (DATABASE_MIGRATIONS_RUN); this is the explicit step
for deployments that turn that off. Reverting is left to \`npm run migration:revert\`.
`;

/** `migrate`: bring the schema up to date and say where it stands. */
@Command({ name: 'migrate', description: 'Apply pending database migrations and list the applied ones' })
export class MigrateCommand extends CommandRunner {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {
    super();
  }

  async run(): Promise<void> {
    // The context applied them while starting; this catches up anything that arrived since.
    const ran = await this.dataSource.runMigrations({ transaction: 'each' });
    const applied: Array<{ name: string }> = await this.dataSource.query('SELECT name FROM migrations ORDER BY timestamp');
    const lines = [
      ran.length > 0 ? `applied now: ${ran.map((m) => m.name).join(', ')}` : 'nothing pending',
      `${applied.length} of ${this.dataSource.migrations.length} migrations applied:`,
      ...applied.map((m) => `  ${m.name}`),
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  }

  @Help('after')
  help(): string {
    return HELP;
  }
}
