import type { Type } from '@nestjs/common';
import { ApiProperty } from '@nestjs/swagger';

/*
 * What the answers of several APIs share. The wrappers of the list answers: each list still
 * declares its own class, so that its OpenAPI schema keeps its name:
 * `export class HookPage extends CountedPageOf(HookView) {}`. The item class must be defined
 * before the call (the schema refers to it lazily all the same).
 */

/** The first fields of a resource that one organization owns (a subscription, a hook, a source…). */
export class OwnedView {
  @ApiProperty({ format: 'uuid' })
  id!: string;

  @ApiProperty()
  organization_id!: string;
}

/** `items`: the whole list, or the first of what the subclass adds to it. */
export function ListOf<T>(item: Type<T>, description?: string) {
  class List {
    @ApiProperty({ type: () => item, isArray: true, description })
    items!: T[];
  }
  return List;
}

/** A page of a list newest first, with how many match across pages (offset or `before` paging). */
export function CountedPageOf<T>(item: Type<T>) {
  class CountedPage extends ListOf(item, 'Newest first.') {
    @ApiProperty({ description: 'How many match, across pages (with `before`: how many are older).' })
    total!: number;
  }
  return CountedPage;
}

/** A page of a list newest first, with the cursor of the next one (`before` paging, no count). */
export function CursorPageOf<T>(item: Type<T>) {
  class CursorPage extends ListOf(item, 'Newest first.') {
    @ApiProperty({ type: String, nullable: true, description: 'Pass as `before` for the next page; null on the last page.' })
    next_before!: string | null;
  }
  return CursorPage;
}
