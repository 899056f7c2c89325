// htm bound to Preact: the pages' templates, no build step.
import { h } from "preact";
import htm from "htm";

/** Tagged template producing Preact elements. */
export const html = htm.bind(h);
