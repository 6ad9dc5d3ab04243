// Validates the custom resources of rendered manifests against their published schemas
// (KEDA's CRDs as packaged by @kubernetes-models/keda). Input: a JSON array of objects
// (the rendered kustomize output); prints one line per object checked; exit 1 on a
// schema violation or on a custom kind this script does not know.
import { readFileSync } from "node:fs";
import { ScaledObject } from "@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject";
import { TriggerAuthentication } from "@kubernetes-models/keda/keda.sh/v1alpha1/TriggerAuthentication";

const MODELS = {
  "keda.sh/v1alpha1/ScaledObject": ScaledObject,
  "keda.sh/v1alpha1/TriggerAuthentication": TriggerAuthentication,
};

const objects = JSON.parse(readFileSync(process.argv[2], "utf8"));
let failed = 0;
for (const object of objects) {
  const kind = `${object.apiVersion}/${object.kind}`;
  const Model = MODELS[kind];
  if (!Model) {
    console.error(`no schema for ${kind} (${object.metadata?.name})`);
    failed += 1;
    continue;
  }
  try {
    new Model(object).validate();
    console.log(`valid ${kind} ${object.metadata?.name}`);
  } catch (err) {
    console.error(`invalid ${kind} ${object.metadata?.name}: ${err.message}`);
    failed += 1;
  }
}
process.exit(failed ? 1 : 0);
