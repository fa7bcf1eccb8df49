// Node side of bench/qr_reductions.py: reads one JSON line per code ({code, m}: the QR's
// module rows, quiet zone included) on stdin, draws each as tests/test_gate_camera.py's fake
// camera frame (640x480, the QR filling its height with extra white around it), makes it
// smaller by each reduction as a canvas would (bilinear sampling at each pixel's centre) and
// as an area average, decodes it with the vendored decoder as web/static/gate-frames.js
// does, and prints one JSON line per code: which reductions read it, per scaling.
const fs = require("fs");
const ZXing = require(process.argv[2]);
const reductions = process.argv[3].split(",").map(Number);
const W = 640, H = 480;

function frame(m) {
  const width = m.length * 8, quiet = Math.floor(width / 10), side = width + 2 * quiet, left = (W - H) / 2;
  const luma = new Uint8Array(W * H).fill(255);
  for (let y = 0; y < H; y++) {
    const sy = Math.floor((y * side) / H) - quiet;
    if (sy < 0 || sy >= width) continue;
    const row = m[Math.floor(sy / 8)];
    for (let x = 0; x < H; x++) {
      const sx = Math.floor((x * side) / H) - quiet;
      if (sx >= 0 && sx < width && row[Math.floor(sx / 8)] === "1") luma[y * W + left + x] = 0;
    }
  }
  return luma;
}

function bilinear(src, w, h) {
  const out = new Uint8ClampedArray(w * h), kx = W / w, ky = H / h;
  for (let y = 0; y < h; y++) {
    const fy = Math.max(0, (y + 0.5) * ky - 0.5), y0 = Math.floor(fy), y1 = Math.min(y0 + 1, H - 1), ty = fy - y0;
    for (let x = 0; x < w; x++) {
      const fx = Math.max(0, (x + 0.5) * kx - 0.5), x0 = Math.floor(fx), x1 = Math.min(x0 + 1, W - 1), tx = fx - x0;
      const top = src[y0 * W + x0] * (1 - tx) + src[y0 * W + x1] * tx;
      const bottom = src[y1 * W + x0] * (1 - tx) + src[y1 * W + x1] * tx;
      out[y * w + x] = Math.round(top * (1 - ty) + bottom * ty);
    }
  }
  return out;
}

function areaAverage(src, w, h) {
  const out = new Uint8ClampedArray(w * h), kx = W / w, ky = H / h;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let sum = 0, count = 0;
      for (let yy = Math.floor(y * ky); yy < Math.min(H, Math.ceil((y + 1) * ky)); yy++) {
        for (let xx = Math.floor(x * kx); xx < Math.min(W, Math.ceil((x + 1) * kx)); xx++) {
          sum += src[yy * W + xx];
          count++;
        }
      }
      out[y * w + x] = Math.round(sum / count);
    }
  }
  return out;
}

const reader = new ZXing.QRCodeReader();
function reads(luminance, w, h, code) {
  try {
    const bitmap = new ZXing.BinaryBitmap(new ZXing.HybridBinarizer(new ZXing.RGBLuminanceSource(luminance, w, h)));
    return reader.decode(bitmap).getText() === code;
  } catch {
    return false;
  } finally {
    reader.reset();
  }
}

for (const line of fs.readFileSync(0, "utf8").split("\n")) {
  if (!line.trim()) continue;
  const { code, m } = JSON.parse(line);
  const full = frame(m);
  const result = { code, bilinear: [], area: [] };
  for (const reduction of reductions) {
    const w = Math.round(W / reduction), h = Math.round((H * w) / W);
    if (reads(bilinear(full, w, h), w, h, code)) result.bilinear.push(reduction);
    if (reads(areaAverage(full, w, h), w, h, code)) result.area.push(reduction);
  }
  console.log(JSON.stringify(result));
}
