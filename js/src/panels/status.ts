// The status line: the kernel's errors, the connection (busy or gone, known
// gone: connection.ts), a wait for a step.

import { el, setClass, setText } from "../dom";
import type { Frame } from "./frame";

export class StatusLine {
  readonly el = el("div", "aw-status");

  constructor() {
    this.el.setAttribute("role", "status");
  }

  render({ ctl, k, step }: Frame): void {
    const status = String(ctl.model.get("status") ?? "");
    let text = ctl.message || status;
    let cls = ctl.messageIsError || status.startsWith("error") ? "is-error" : "";
    if (k > 0 && !step && !ctl.kernelReplied && ctl.connection !== "ok") {
      text = ctl.savedOnly; // a saved notebook, opened but not run: nothing will answer
      cls = "is-waiting";
    } else if (ctl.connection === "gone") {
      cls = "is-disconnected";
      text = ctl.goneNotice; // what still works, and what waits for a kernel
    } else if (ctl.connection === "silent" && ctl.kernelReplied) {
      cls = "is-disconnected";
      text = ctl.silentNotice; // busy or gone: silence alone cannot tell
    } else if (k > 0 && !step) {
      text = ctl.connection === "waiting" ? "waiting for the kernel… (a running cell delays it)" : "computing…";
      cls = "is-waiting";
    }
    setText(this.el, text);
    setClass(this.el, `aw-status ${cls}`.trim());
  }
}
