// A growable FIFO ring with O(1) push/shift/unshift (the qdisc queue and the NAPI poll list).

/** Double-ended queue over a power-of-two array; no allocation once it has grown. */
export class Ring<T> {
  private a: (T | undefined)[];
  private h = 0;
  private n = 0;
  private mask: number;

  constructor(capacity = 16) {
    let c = 1;
    while (c < capacity) c <<= 1;
    this.a = new Array<T | undefined>(c);
    this.mask = c - 1;
  }

  get length(): number {
    return this.n;
  }

  push(x: T): void {
    if (this.n === this.a.length) this.grow();
    this.a[(this.h + this.n) & this.mask] = x;
    this.n++;
  }

  unshift(x: T): void {
    if (this.n === this.a.length) this.grow();
    this.h = (this.h - 1) & this.mask;
    this.a[this.h] = x;
    this.n++;
  }

  shift(): T | undefined {
    if (this.n === 0) return undefined;
    const x = this.a[this.h];
    this.a[this.h] = undefined;
    this.h = (this.h + 1) & this.mask;
    this.n--;
    return x;
  }

  peek(): T | undefined {
    return this.n === 0 ? undefined : this.a[this.h];
  }

  /** Removes one element by identity (O(n); for rare paths such as napi_disable). */
  remove(x: T): boolean {
    for (let i = 0; i < this.n; i++) {
      if (this.a[(this.h + i) & this.mask] === x) {
        for (let j = i; j < this.n - 1; j++) {
          this.a[(this.h + j) & this.mask] = this.a[(this.h + j + 1) & this.mask];
        }
        this.a[(this.h + this.n - 1) & this.mask] = undefined;
        this.n--;
        return true;
      }
    }
    return false;
  }

  private grow(): void {
    const old = this.a;
    const b = new Array<T | undefined>(old.length * 2);
    for (let i = 0; i < this.n; i++) b[i] = old[(this.h + i) & this.mask];
    this.a = b;
    this.h = 0;
    this.mask = b.length - 1;
  }
}
