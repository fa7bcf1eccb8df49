// The camera scanner of the gate page, where the browser has `BarcodeDetector` (Chrome on
// Android). Elsewhere it stays hidden and the code is typed or pasted.

import { log } from "./common.js";

const SCAN_EVERY_MS = 200;

export function canScan() {
  return typeof window.BarcodeDetector === "function" && Boolean(navigator.mediaDevices?.getUserMedia);
}

export class Scanner {
  constructor(video, onCode) {
    this.video = video;
    this.onCode = onCode;
    this.stream = null;
    this.timer = null;
  }

  get running() {
    return this.stream !== null;
  }

  async start() {
    if (this.running) return;
    const detector = new window.BarcodeDetector({ formats: ["qr_code"] });
    this.stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
    this.video.srcObject = this.stream;
    this.video.classList.add("live");
    await this.video.play();
    log("camera scanning");
    const look = async () => {
      if (!this.running) return;
      try {
        const [found] = await detector.detect(this.video);
        if (found?.rawValue) {
          this.stop();
          this.onCode(found.rawValue);
          return;
        }
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
    this.video.srcObject = null;
    this.video.classList.remove("live");
  }
}
