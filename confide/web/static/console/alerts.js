// Desktop notifications and a short chime for new waiting conversations. Browsers allow both
// only after a user gesture: the "Enable alerts" button asks for notification permission and
// unlocks audio. The chime is synthesised with WebAudio, so no sound file is fetched.

export class Alerts {
  constructor(button) {
    this.button = button;
    this.audio = null;
    const unlock = () => this.unlockAudio();
    document.addEventListener("pointerdown", unlock, { once: true });
    document.addEventListener("keydown", unlock, { once: true });
    if (button && "Notification" in window && Notification.permission === "default") {
      button.hidden = false;
      button.addEventListener("click", async () => {
        this.unlockAudio();
        await Notification.requestPermission();
        button.hidden = Notification.permission !== "default";
      });
    }
  }

  unlockAudio() {
    const Context = window.AudioContext || window.webkitAudioContext;
    if (!this.audio && Context) this.audio = new Context();
    if (this.audio && this.audio.state === "suspended") this.audio.resume();
  }

  chime() {
    if (!this.audio || this.audio.state !== "running") return;
    const now = this.audio.currentTime;
    for (const [offset, frequency] of [[0, 880], [0.16, 1320]]) {
      const oscillator = this.audio.createOscillator();
      const gain = this.audio.createGain();
      oscillator.type = "sine";
      oscillator.frequency.value = frequency;
      gain.gain.setValueAtTime(0.0001, now + offset);
      gain.gain.exponentialRampToValueAtTime(0.2, now + offset + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, now + offset + 0.3);
      oscillator.connect(gain).connect(this.audio.destination);
      oscillator.start(now + offset);
      oscillator.stop(now + offset + 0.32);
    }
  }

  notify(title, body, url) {
    this.chime();
    if (!("Notification" in window) || Notification.permission !== "granted") return;
    if (document.visibilityState === "visible" && document.hasFocus()) return;
    const notification = new Notification(title, { body, tag: url });
    notification.addEventListener("click", () => {
      window.focus();
      window.location.assign(url);
    });
  }
}
