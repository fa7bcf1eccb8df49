// The camera scanner of the gate page. It keeps looking while the camera is on; the page
// decides what a code means and ignores codes while a verdict is showing. `BarcodeDetector`
// where the browser has it (Chrome on Android); elsewhere the frames are decoded in the page
// (gate-frames.js). Any browser with a camera scans.

import { log } from "./common.js";
import { frameDetector } from "./gate-frames.js";

const SCAN_EVERY_MS = 150;

export function canScan() {
  return Boolean(navigator.mediaDevices?.getUserMedia);
}

export class Scanner {
  constructor(video, onCode) {
    this.video = video;
    this.onCode = onCode;
    this.stream = null;
    this.timer = null;
    this.torchOn = false;
  }

  get running() {
    return this.stream !== null;
  }

  // Whether the camera has a torch this page may switch (Chrome on Android, most phones).
  get hasTorch() {
    const track = this.stream?.getVideoTracks()[0];
    try {
      return Boolean(track?.getCapabilities?.().torch);
    } catch {
      return false;
    }
  }

  async setTorch(on) {
    const track = this.stream?.getVideoTracks()[0];
    if (!track) return false;
    await track.applyConstraints({ advanced: [{ torch: on }] });
    this.torchOn = on;
    return on;
  }

  async start() {
    if (this.running) return;
    const detector =
      typeof window.BarcodeDetector === "function"
        ? new window.BarcodeDetector({ formats: ["qr_code"] })
        : await frameDetector();
    this.stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
    this.video.srcObject = this.stream;
    this.video.classList.add("live");
    await this.video.play();
    log("camera scanning");
    const look = async () => {
      if (!this.running) return;
      try {
        const [found] = await detector.detect(this.video);
        if (found?.rawValue) this.onCode(found.rawValue);
      } catch (error) {
        log("scan failed", String(error));
      }
      this.timer = setTimeout(look, SCAN_EVERY_MS);
    };
    look();
  }

  stop() {
    clearTimeout(this.timer);
    for (const track of this.stream?.getTracks() ?? []) track.stop();
    this.stream = null;
    this.torchOn = false;
    this.video.srcObject = null;
    this.video.classList.remove("live");
  }
}
