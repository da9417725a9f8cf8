import { Transform, Type } from 'class-transformer';
import { ArrayMaxSize, IsArray, IsInt, IsNotEmpty, IsOptional, IsString, Matches, Max, MaxLength, Min, ValidateNested } from 'class-validator';
import { UUID_SHAPE } from '../callbacks/callback-envelope';

export class PagingDto {
  @IsOptional() @IsInt() @Min(0)
  offset?: number;

  @IsOptional() @IsInt() @Min(1) @Max(10_000)
  limit?: number;
}

export class TopologyReadPayload {
  @IsOptional() @ValidateNested() @Type(() => PagingDto)
  paging?: PagingDto;
}

export class MappingItemDto {
  @IsString() @IsNotEmpty() @MaxLength(64)
  vendor_tenant_id!: string;

  /** Absent, null or "" unmaps the organization. */
  @Transform(({ value }: { value: unknown }) => (value === '' || value === null ? undefined : value))
  @IsOptional() @IsString() @Matches(UUID_SHAPE, { message: 'acronis_tenant_id must be a UUID' })
  acronis_tenant_id?: string;
}

export class TenantMappingWritePayload {
  @IsArray() @ArrayMaxSize(10_000) @ValidateNested({ each: true }) @Type(() => MappingItemDto)
  modified!: MappingItemDto[];
}
