import { Type } from 'class-transformer';
import { ArrayMaxSize, IsArray, IsNotEmpty, IsObject, IsOptional, IsString, Matches, MaxLength, ValidateNested } from 'class-validator';
import { UUID_SHAPE } from '../callbacks/callback-envelope';
import type { MirroringSettings } from './mirroring-state';

const uuid = (field: string) => Matches(UUID_SHAPE, { message: `${field} must be a UUID` });

/** A tenant to mirror, the partner or one of its customers, as both callbacks give it. */
class MirroredTenantDto {
  @IsString() @uuid('acronis_tenant_id')
  acronis_tenant_id!: string;

  /** Stored with the mirroring; a customer's new organization is named after it. */
  @IsString() @IsNotEmpty() @MaxLength(255)
  acronis_tenant_name!: string;

  /** Additional-settings fields (Vendor Portal), when the CyberApp defines some: field id → value. */
  @IsOptional() @IsObject()
  settings?: MirroringSettings;
}

/** `a.p.partner.mirroring.enable.v1.0`. */
export class PartnerMirroringEnablePayload extends MirroredTenantDto {}

export class MirroredCustomerEnableItem extends MirroredTenantDto {}

export class MirroredCustomerDisableItem {
  @IsString() @uuid('acronis_tenant_id')
  acronis_tenant_id!: string;
}

/** `a.p.customer.mirroring.set_state.v1.0`: `enabled`, `disabled`, or both (at least one). */
export class CustomerMirroringSetStatePayload {
  @IsString() @uuid('partner_tenant_id')
  partner_tenant_id!: string;

  @IsOptional() @IsString() @MaxLength(255)
  partner_tenant_name?: string;

  @IsOptional() @IsArray() @ArrayMaxSize(10_000) @ValidateNested({ each: true }) @Type(() => MirroredCustomerEnableItem)
  enabled?: MirroredCustomerEnableItem[];

  @IsOptional() @IsArray() @ArrayMaxSize(10_000) @ValidateNested({ each: true }) @Type(() => MirroredCustomerDisableItem)
  disabled?: MirroredCustomerDisableItem[];
}
