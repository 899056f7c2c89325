/**
 * Adam (Kingma & Ba, 2015) on one parameter vector: the optimiser textual inversion uses.
 *
 * @module
 */

/** Adam's hyper-parameters. */
export interface AdamOptions {
  learningRate: number;
  /** @default 0.9 */
  beta1?: number;
  /** @default 0.999 */
  beta2?: number;
  /** @default 1e-8 */
  epsilon?: number;
}

/** Adam state for one vector; `update` returns the next parameter value and leaves the input alone. */
export class Adam {
  readonly #m: Float64Array;
  readonly #v: Float64Array;
  readonly #opts: Required<AdamOptions>;
  #t = 0;

  constructor(size: number, opts: AdamOptions) {
    this.#m = new Float64Array(size);
    this.#v = new Float64Array(size);
    this.#opts = { beta1: 0.9, beta2: 0.999, epsilon: 1e-8, ...opts };
  }

  /** One step from `param` along −`grad`. */
  update(param: Float32Array, grad: ArrayLike<number>): Float32Array {
    const { learningRate, beta1, beta2, epsilon } = this.#opts;
    this.#t++;
    const c1 = 1 - beta1 ** this.#t, c2 = 1 - beta2 ** this.#t;
    const next = new Float32Array(param.length);
    for (let i = 0; i < param.length; i++) {
      this.#m[i] = beta1 * this.#m[i] + (1 - beta1) * grad[i];
      this.#v[i] = beta2 * this.#v[i] + (1 - beta2) * grad[i] * grad[i];
      next[i] = param[i] - (learningRate * (this.#m[i] / c1)) / (Math.sqrt(this.#v[i] / c2) + epsilon);
    }
    return next;
  }
}
