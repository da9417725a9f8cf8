import { IsNotEmpty, IsOptional, IsString, Matches, MaxLength } from 'class-validator';
import { UUID_SHAPE } from '../callbacks/callback-envelope';

export class EnablementWritePayload {
  /** When given, must be the caller's own organization. */
  @IsOptional() @IsString() @IsNotEmpty() @MaxLength(64)
  vendor_tenant_id?: string;

  @IsString() @Matches(UUID_SHAPE, { message: 'acronis_tenant_id must be a UUID' })
  acronis_tenant_id!: string;
}
