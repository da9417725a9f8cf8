import { Module } from '@nestjs/common';

/** Object-storage event intake (issue 8). */
@Module({})
export class S3EventsModule {}
