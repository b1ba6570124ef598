// `contributes.configuration` of package.json, generated from the settings table (common/settings/
// table.ts). `npm run settings:schema` writes it into package.json; test/unit/settings.test.ts fails
// when package.json differs from it.
import { settingsTable, type SettingSpec } from "./table";

export type JsonSchema = { [key: string]: unknown };

function integerSchema(spec: { min: number; max: number; schemaMax?: false }): JsonSchema {
  return spec.schemaMax === false ? { minimum: spec.min } : { minimum: spec.min, maximum: spec.max };
}

/** One property of `contributes.configuration.properties` (key order as package.json has it). */
export function propertySchema(spec: SettingSpec): JsonSchema {
  const scope = spec.scope === undefined ? {} : { scope: spec.scope };
  const tail = { markdownDescription: spec.description };
  switch (spec.type) {
    case "string":
      return { type: "string", default: spec.default, ...scope, order: spec.order, ...tail };
    case "boolean":
      return { type: "boolean", default: spec.default, ...scope, order: spec.order, ...tail };
    case "enum":
      return {
        type: "string",
        default: spec.default,
        enum: [...spec.values],
        order: spec.order,
        ...scope,
        ...(spec.enumDescriptions === undefined ? {} : { enumDescriptions: [...spec.enumDescriptions] }),
        ...tail,
      };
    case "integer":
      return { type: "integer", default: spec.default, ...integerSchema(spec), ...scope, order: spec.order, ...tail };
    case "autoInteger":
      return {
        type: ["string", "integer"],
        default: spec.default,
        ...scope,
        order: spec.order,
        anyOf: [{ type: "string", enum: ["auto"] }, { type: "integer", ...integerSchema(spec) }],
        ...tail,
      };
    case "languages":
      return { type: "object", default: { ...spec.default }, ...scope, order: spec.order, additionalProperties: { type: "boolean" }, ...tail };
    case "hosts":
      return { type: "array", items: { type: "string" }, default: [...spec.default], ...scope, order: spec.order, ...tail };
  }
}

/** The whole `contributes.configuration` object. */
export function configurationSchema(): { title: string; properties: Record<string, JsonSchema> } {
  const properties: Record<string, JsonSchema> = {};
  for (const [key, spec] of Object.entries(settingsTable) as [string, SettingSpec][]) {
    properties[`streamsink.${key}`] = propertySchema(spec);
  }
  return { title: "StreamSink", properties };
}
