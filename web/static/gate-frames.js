// Reading QR codes from camera frames where the browser has no BarcodeDetector (iPhone,
// Firefox, laptops). The decoder is @zxing/library, served from our own origin
// (web/static/vendor/zxing-library: VERSION, LICENSE, SHA256SUMS; scripts/update-vendor.sh),
// chosen by measurement (README "Choices", bench/qr_decoders.py): the fastest of the
// candidates that run under the page's CSP as it is (no wasm, no Blob workers).
// It is fetched only on a phone that needs it, when the camera is first switched on.

const DECODER_URL = new URL("./vendor/zxing-library/index.min.js", import.meta.url).href;
// Frames are read at most this wide: 640x480 is what the decoder was measured on, and a
// ticket's QR held up to the camera is far larger than it needs.
const MAX_WIDTH = 640;

let loading = null;
function loadDecoder() {
  loading ??= new Promise((resolve, reject) => {
    if (window.ZXing) return resolve(window.ZXing);
    const script = document.createElement("script");
    script.src = DECODER_URL;
    script.onload = () => (window.ZXing ? resolve(window.ZXing) : reject(new Error("QR decoder did not load")));
    script.onerror = () => {
      loading = null; // a later tap may try again (the network came back)
      reject(new Error("QR decoder could not be fetched"));
    };
    document.head.append(script);
  });
  return loading;
}

// Each look reads the frame at the next of these reductions: the decoder finds no finder
// pattern in some codes' sharp images at one size and reads them at another. Of 20,000
// random ticket codes filling a still frame (the vendored decoder in node, python -m
// bench.qr_reductions, docs/BENCHMARKS.md): 1 in 100 missed at all of full, half and third
// width, 1 in 700 with a quarter too, 1 in 10,000 with a fifth as well. The small looks are
// the cheapest (0.3 ms); a QR held further away is read at the larger ones. A steady QR
// meets all five within five looks, and a camera in a hand gives a new frame each look.
const REDUCTIONS = [1, 2, 3, 4, 5];

// The same shape as BarcodeDetector: `await detect(video)` gives [{ rawValue }] or [].
export async function frameDetector() {
  const ZXing = await loadDecoder();
  const reader = new ZXing.QRCodeReader();
  const canvas = document.createElement("canvas");
  const context = canvas.getContext("2d", { willReadFrequently: true });
  let luminance = new Uint8ClampedArray(0);
  let looks = 0;
  return {
    async detect(video) {
      const reduction = REDUCTIONS[looks++ % REDUCTIONS.length];
      const width = Math.round(Math.min(video.videoWidth, MAX_WIDTH) / reduction);
      const height = Math.round((video.videoHeight * width) / (video.videoWidth || 1));
      if (!width || !height) return [];
      if (canvas.width !== width || canvas.height !== height) {
        canvas.width = width;
        canvas.height = height;
        luminance = new Uint8ClampedArray(width * height);
      }
      // The browser scales the frame down as it draws it.
      context.drawImage(video, 0, 0, width, height);
      const pixels = context.getImageData(0, 0, width, height).data;
      for (let i = 0, j = 0; j < luminance.length; i += 4, j++) {
        luminance[j] = (pixels[i] * 306 + pixels[i + 1] * 601 + pixels[i + 2] * 117) >> 10;
      }
      const source = new ZXing.RGBLuminanceSource(luminance, width, height);
      try {
        return [{ rawValue: reader.decode(new ZXing.BinaryBitmap(new ZXing.HybridBinarizer(source))).getText() }];
      } catch {
        return []; // no QR in this frame: the usual answer
      } finally {
        reader.reset();
      }
    },
  };
}
