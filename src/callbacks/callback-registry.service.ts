import { Inject, Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { DiscoveryService } from '@nestjs/core';
import { getMetadataStorage } from 'class-validator';
import { appConfig, AppConfig } from '../config/app.config';
import {
  CALLBACK_ID_PREFIX,
  CallbackHandler,
  CallbackHandlerContract,
  CallbackHandlerOptions,
  EMPTY_REQUEST,
  REQUEST_TYPE_PREFIX,
  RESPONSE_TYPE_PREFIX,
} from './callback-handler.decorator';

export interface RegisteredCallback {
  callbackId: string;
  requestType: string;
  responseType: string;
  payload?: new () => object;
  /** The callback takes a payload object (possibly with no rules to check). */
  requiresObjectPayload: boolean;
  write: boolean;
  handler: CallbackHandlerContract<unknown>;
}

function hasRules(dto: new () => object): boolean {
  return getMetadataStorage().getTargetValidationMetadatas(dto, '', true, false).length > 0;
}

/** Builds the callback ID → handler map at boot from every `@CallbackHandler` provider. */
@Injectable()
export class CallbackRegistry implements OnModuleInit {
  private readonly logger = new Logger(CallbackRegistry.name);
  private readonly byId = new Map<string, RegisteredCallback>();

  constructor(
    private readonly discovery: DiscoveryService,
    @Inject(appConfig.KEY) private readonly config: AppConfig,
  ) {}

  onModuleInit(): void {
    for (const wrapper of this.discovery.getProviders({ metadataKey: CallbackHandler.KEY })) {
      const options = this.discovery.getMetadataByDecorator(CallbackHandler, wrapper);
      const instance: unknown = wrapper.instance;
      if (!options || !instance) continue;
      if (typeof (instance as Partial<CallbackHandlerContract>).handle !== 'function') {
        throw new Error(`${wrapper.name} is a @CallbackHandler without a handle() method`);
      }
      this.register(options, instance as CallbackHandlerContract<unknown>, String(wrapper.name));
    }
    this.logger.log(`Serving ${this.byId.size} callbacks`);
  }

  register(options: CallbackHandlerOptions, handler: CallbackHandlerContract<unknown>, name = handler.constructor.name): void {
    const expand = (s: string) => s.replaceAll('{APP_CODE}', this.config.appCode);
    const callbackId = CALLBACK_ID_PREFIX + expand(options.id);
    const existing = this.byId.get(callbackId);
    if (existing) {
      throw new Error(`Duplicate callback handler for ${callbackId}: ${existing.handler.constructor.name} and ${name}`);
    }
    this.byId.set(callbackId, {
      callbackId,
      requestType: REQUEST_TYPE_PREFIX + expand(options.requestType ?? (options.payload ? options.id : EMPTY_REQUEST)),
      responseType: RESPONSE_TYPE_PREFIX + expand(options.responseType),
      // A DTO without rules (users_read's `{}`) needs no validation pass on every request.
      payload: options.payload && hasRules(options.payload) ? options.payload : undefined,
      requiresObjectPayload: options.payload !== undefined,
      write: options.write ?? false,
      handler,
    });
  }

  get(callbackId: string): RegisteredCallback | undefined {
    return this.byId.get(callbackId);
  }

  ids(): string[] {
    return [...this.byId.keys()];
  }
}
