/**
 * Connected regions of a binary mask with 8-connectivity (a diagonal neighbour belongs to the same
 * region), as the MVTec AD evaluation labels its ground truth (`scipy.ndimage.label` with a 3×3
 * structure): a thin diagonal scratch is one defect, not a string of one-pixel defects.
 *
 * @module
 */

/** Region labels of one mask: -1 outside, 0…count−1 inside, with each region's pixel count. */
export interface MaskRegions {
  labels: Int32Array;
  sizes: number[];
}

/**
 * Labels the regions of a mask (non-zero = inside) by flood fill with an explicit stack.
 *
 * @param mask `width × height` bytes, row-major
 * @param size the mask's size
 * @returns the labels and sizes
 */
export function maskRegions(mask: Uint8Array, size: { width: number; height: number }): MaskRegions {
  const { width, height } = size;
  const labels = new Int32Array(width * height).fill(-1);
  const sizes: number[] = [];
  const stack = new Int32Array(width * height);
  for (let start = 0; start < labels.length; start++) {
    if (!mask[start] || labels[start] !== -1) continue;
    const id = sizes.length;
    let top = 0, count = 0;
    labels[start] = id;
    stack[top++] = start;
    while (top > 0) {
      const i = stack[--top];
      count++;
      const x = i % width, y = (i - x) / width;
      for (let dy = -1; dy <= 1; dy++) {
        const ny = y + dy;
        if (ny < 0 || ny >= height) continue;
        for (let dx = -1; dx <= 1; dx++) {
          const nx = x + dx;
          if (nx < 0 || nx >= width) continue;
          const j = ny * width + nx;
          if (mask[j] && labels[j] === -1) {
            labels[j] = id;
            stack[top++] = j;
          }
        }
      }
    }
    sizes.push(count);
  }
  return { labels, sizes };
}
