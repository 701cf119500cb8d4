// errno values (include/uapi/asm-generic/errno-base.h, errno.h); kernel APIs return them negated.

export const EPERM = 1;
export const ENOENT = 2;
export const EIO = 5;
export const ENXIO = 6;
export const E2BIG = 7;
export const EAGAIN = 11;
export const ENOMEM = 12;
export const EFAULT = 14;
export const EBUSY = 16;
export const EEXIST = 17;
export const ENODEV = 19;
export const EINVAL = 22;
export const ENOSPC = 28;
export const ERANGE = 34;
export const EOPNOTSUPP = 95;
export const ENETDOWN = 100;
export const ETIMEDOUT = 110;

/** Linux's IS_ERR-style check for a returned status: negative means an errno. */
export function IS_ERR_VALUE(rc: number): boolean {
  return rc < 0;
}
