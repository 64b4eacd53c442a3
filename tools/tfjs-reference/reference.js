// Writes reference outputs of the nsfwjs MobileNetV2 TF.js model for
// models/tfjs tests, using @tensorflow/tfjs's pure-JS CPU backend (an
// implementation independent of the Go converter and of ONNX Runtime).
//
// Usage (from this folder, after `npm install --ignore-scripts`):
//   node reference.js [MODEL_DIR] [INPUTS.bin] [OUTPUTS.json]
// Defaults: ../../third_party/nsfwjs/package/dist/models/mobilenet_v2,
//           ../../models/tfjs/testdata/ref_inputs.bin,
//           ../../models/tfjs/testdata/ref_outputs.json
// INPUTS.bin holds uint8 RGB pixels, NHWC, 224x224x3 per image.
'use strict';
const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs');

const SIZE = 224;
const modelDir = path.resolve(process.argv[2] || path.join(__dirname, '../../third_party/nsfwjs/package/dist/models/mobilenet_v2'));
const inputsPath = path.resolve(process.argv[3] || path.join(__dirname, '../../models/tfjs/testdata/ref_inputs.bin'));
const outputsPath = path.resolve(process.argv[4] || path.join(__dirname, '../../models/tfjs/testdata/ref_outputs.json'));
const photos = ['astronaut.png', 'chelsea.png', 'coffee.png', 'rocket.jpg', 'camera.png'];

// Outputs: name -> layers whose outputs are global-average-pooled and
// concatenated; null means the model's own output.
const outputs = [
  ['probs', null],
  ['pool_final', ['out_relu']],
  ['pool_block_13', ['block_13_project_BN']],
  ['pool_block_16', ['block_16_project_BN']],
  ['pool_blocks_10_13_16', ['block_10_project_BN', 'block_13_project_BN', 'block_16_project_BN']],
];

async function main() {
  await tf.setBackend('cpu');
  const artifacts = require(path.join(modelDir, 'model.min.js'));
  const specs = [];
  const buffers = [];
  for (const group of artifacts.weightsManifest) {
    for (const w of group.weights) specs.push(w);
    for (const p of group.paths) {
      buffers.push(Buffer.from(require(path.join(modelDir, p + '.min.js')), 'base64'));
    }
  }
  const all = Buffer.concat(buffers);
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
  const handler = tf.io.fromMemory({ modelTopology: artifacts.modelTopology, weightSpecs: specs, weightData });
  const model = await tf.loadLayersModel(handler);

  const names = [...new Set(outputs.flatMap(([, ls]) => ls || []))];
  const probe = tf.model({ inputs: model.inputs, outputs: [model.outputs[0], ...names.map((n) => model.getLayer(n).output)] });

  const raw = fs.readFileSync(inputsPath);
  const per = SIZE * SIZE * 3;
  if (raw.length % per !== 0) throw new Error(`${inputsPath}: ${raw.length} bytes is not a multiple of ${per}`);
  const n = raw.length / per;
  const x = tf.tidy(() => tf.tensor4d(Float32Array.from(raw), [n, SIZE, SIZE, 3]).div(255));
  const ys = probe.predict(x);
  const pooled = {};
  names.forEach((name, i) => { pooled[name] = tf.mean(ys[i + 1], [1, 2]); });
  const result = {
    generator: 'tools/tfjs-reference/reference.js',
    tfjs_version: tf.version.tfjs,
    backend: tf.getBackend(),
    model: 'nsfwjs@4.4.0 dist/models/mobilenet_v2',
    inputs: path.basename(inputsPath),
    images: photos.slice(0, n),
    input_shape: [n, SIZE, SIZE, 3],
    outputs: {},
  };
  for (const [name, layers] of outputs) {
    const t = layers ? tf.concat(layers.map((l) => pooled[l]), 1) : ys[0];
    const arr = await t.array();
    result.outputs[name] = arr.map((row) => row.map((v) => Number(v.toPrecision(9))));
  }
  fs.writeFileSync(outputsPath, JSON.stringify(result) + '\n');
  console.log(`reference: wrote ${Object.keys(result.outputs).join(', ')} for ${n} images to ${outputsPath}`);
}

main().catch((e) => { console.error(e); process.exit(1); });
