import { Inject, Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { DiscoveryService } from '@nestjs/core';
import { getMetadataStorage } from 'class-validator';
import { appConfig, AppConfig } from '../config/app.config';
import { callbackIdPrefix, callbackName, requestTypePrefix, responseTypePrefix } from './callback-cti';
import type { CallbackEnvelope } from './callback-envelope';
import { CallbackExample, CallbackResponse, exampleExchange } from './callback-example';
import { CallbackHandler, CallbackHandlerContract, CallbackHandlerOptions, EMPTY_REQUEST } from './callback-handler.decorator';
import type { EnablementMethod } from './enablement-method';

export interface RegisteredCallback {
  /** The ID as the guide gives it (its version included): the idempotency key and metrics label. */
  callbackId: string;
  /** The request type as the guide gives it; any v1.x of `requestName` is accepted. */
  requestType: string;
  /** The request type after its `cti.a.p.acgw.request.v1.x~` prefix. */
  requestName: string;
  responseType: string;
  method?: EnablementMethod;
  payload?: new () => object;
  /** The callback takes a payload object (possibly with no rules to check). */
  requiresObjectPayload: boolean;
  write: boolean;
  /** The operation the approval gate is asked about (write callbacks only). */
  approval?: string;
  /** The handler's example request payload and answer (see `examples()`). */
  example: CallbackExample;
  handler: CallbackHandlerContract<unknown>;
}

/** One callback's example request and the answer to it, as the platform and the gateway send them. */
export interface CallbackExampleExchange {
  callbackId: string;
  summary: string;
  request: CallbackEnvelope;
  response: CallbackResponse;
}

function hasRules(dto: new () => object): boolean {
  return getMetadataStorage().getTargetValidationMetadatas(dto, '', true, false).length > 0;
}

/** Builds the callback ID → handler map at boot from every `@CallbackHandler` provider. */
@Injectable()
export class CallbackRegistry implements OnModuleInit {
  private readonly logger = new Logger(CallbackRegistry.name);
  /** Keyed by the ID after its version prefix. */
  private readonly byName = new Map<string, RegisteredCallback>();

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
    this.logger.log(`Serving ${this.byName.size} callbacks`);
  }

  register(options: CallbackHandlerOptions, handler: CallbackHandlerContract<unknown>, name = handler.constructor.name): void {
    const expand = (s: string) => s.replaceAll('{APP_CODE}', this.config.appCode);
    const callbackId = callbackIdPrefix(options.callbackVersion ?? 'v1.0') + expand(options.id);
    const key = expand(options.id);
    const existing = this.byName.get(key);
    if (existing) {
      throw new Error(`Duplicate callback handler for ${callbackId}: ${existing.handler.constructor.name} and ${name}`);
    }
    if (options.approval !== undefined && !options.write) {
      throw new Error(`${name} declares the approval operation ${options.approval} but is not a write callback`);
    }
    const requestName = expand(options.requestType ?? (options.payload ? options.id : EMPTY_REQUEST));
    this.byName.set(key, {
      callbackId,
      requestType: requestTypePrefix(options.requestVersion ?? 'v1.0') + requestName,
      requestName,
      responseType: responseTypePrefix(options.responseVersion ?? 'v1.0') + expand(options.responseType),
      method: options.method,
      // A DTO without rules (users_read's `{}`) needs no validation pass on every request.
      payload: options.payload && hasRules(options.payload) ? options.payload : undefined,
      requiresObjectPayload: options.payload !== undefined,
      write: options.write ?? false,
      approval: options.approval,
      example: options.example,
      handler,
    });
  }

  /** The handler of a callback ID under any accepted version prefix (`cti.a.p.acgw.callback.v1.x~` or `v2.0~`). */
  get(callbackId: string): RegisteredCallback | undefined {
    const name = callbackName(callbackId);
    return name === null ? undefined : this.byName.get(name);
  }

  ids(): string[] {
    return [...this.byName.values()].map((c) => c.callbackId);
  }

  /** Every callback's example, in full envelopes (the OpenAPI document's examples of `POST /callback`). */
  examples(): CallbackExampleExchange[] {
    return [...this.byName.values()].map((c) => ({ callbackId: c.callbackId, summary: c.example.summary, ...exampleExchange(c, this.config.appCode) }));
  }
}
