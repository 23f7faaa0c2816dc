// anywidget entry: one Controller per model (store, kernel conversation, play
// timer), one View per displayed output.
import "./style.css";
import { Controller, View, type Model } from "./widget";

const controllers = new WeakMap<object, Controller>();

function controllerFor(model: Model): Controller {
  let ctl = controllers.get(model);
  if (!ctl) {
    ctl = new Controller(model);
    controllers.set(model, ctl);
  }
  return ctl;
}

export default {
  initialize({ model }: { model: Model }) {
    const ctl = controllerFor(model);
    return () => {
      ctl.dispose();
      controllers.delete(model);
    };
  },
  render({ model, el }: { model: Model; el: HTMLElement }) {
    const ctl = controllerFor(model);
    if (ctl.store.size === 0) ctl.requestSync(); // a new view of an empty store
    const view = new View(ctl, el);
    return () => view.dispose();
  },
};
