// ONNX Runtime (npm onnxruntime-node, CPU provider) timing of a model, for bench/cpu.py.
// node ort_time.js MODEL.onnx BATCH,C,H,W ITERS THREADS -> one JSON line {median_ms, min_ms}
const ort = require('onnxruntime-node');
(async () => {
  const [path, dims, iters, threads] = process.argv.slice(2);
  const shape = dims.split(',').map(Number);
  const session = await ort.InferenceSession.create(path, {
    executionProviders: ['cpu'], intraOpNumThreads: +threads, interOpNumThreads: 1 });
  const count = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(count);
  for (let i = 0; i < count; ++i) data[i] = Math.sin(i);
  const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', data, shape) };
  for (let i = 0; i < 2; ++i) await session.run(feeds);
  const ms = [];
  for (let i = 0; i < +iters; ++i) {
    const t = process.hrtime.bigint();
    await session.run(feeds);
    ms.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  ms.sort((a, b) => a - b);
  console.log(JSON.stringify({ median_ms: ms[ms.length >> 1], min_ms: ms[0],
                               version: require('onnxruntime-node/package.json').version }));
})();
