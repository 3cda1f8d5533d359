// Writes configmap.yaml from deploy/config/gateway.yaml and control.yaml (run after editing them):
//   node deploy/kubernetes/sync-configmap.mjs
import { readFileSync, writeFileSync } from 'node:fs'
import { Document } from 'yaml'

const here = new URL('.', import.meta.url)
const read = (name) => readFileSync(new URL(`../config/${name}`, here), 'utf8')
const doc = new Document({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name: 'vigil-config', namespace: 'vigil', labels: { 'app.kubernetes.io/name': 'vigil' } },
  data: { 'gateway.yaml': read('gateway.yaml'), 'control.yaml': read('control.yaml') },
})
doc.commentBefore = [
  ' The configs the pods mount at /etc/vigil: the text of deploy/config/gateway.yaml and control.yaml,',
  ' written by sync-configmap.mjs (test/deploy.test.ts checks they stay equal). Addresses come from',
  ' the environment the Deployments set.',
].join('\n')
for (const item of doc.get('data').items) item.value.type = 'BLOCK_LITERAL'
writeFileSync(new URL('configmap.yaml', here), doc.toString({ lineWidth: 0 }))
