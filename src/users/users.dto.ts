import { IsEmail, IsNotEmpty, IsOptional, IsString, Matches, MaxLength } from 'class-validator';

/** users_read takes `{}`. */
export class UsersReadPayload {}

export class UserWritePayload {
  /** Unique across the service; stored lower-case. A `:` could never authenticate (the header splits there). */
  @IsString() @IsNotEmpty() @MaxLength(255) @Matches(/^[^:\s]+$/, { message: 'login must not contain ":" or white space' })
  login!: string;

  @IsString() @IsNotEmpty() @MaxLength(255)
  name!: string;

  @IsString() @MaxLength(255) @IsEmail({}, { message: 'email must be an email address' })
  email!: string;
}

export class UserIdPayload {
  @IsString() @IsNotEmpty() @MaxLength(64)
  id!: string;
}

export class UserUpdatePayload extends UserIdPayload {
  @IsOptional() @IsString() @IsNotEmpty() @MaxLength(255)
  name?: string;

  @IsOptional() @IsString() @MaxLength(255) @IsEmail({}, { message: 'email must be an email address' })
  email?: string;
}
