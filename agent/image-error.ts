// Why staging an image failed, in words for the OSNode's conditions.
export class ImageWriteError extends Error {
  constructor(
    message: string,
    readonly reason: 'DigestMismatch' | 'ActiveSlot' | 'BadImageRef' | 'Download' | 'Device' | 'SlotMismatch',
  ) {
    super(message);
    this.name = 'ImageWriteError';
  }
}
