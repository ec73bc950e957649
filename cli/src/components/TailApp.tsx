/** The interactive `rtctl tail`: starts the device, shows its feed, q quits; a fatal device error ends it. */
import { useApp, useInput, useStdin } from 'ink';
import { useEffect } from 'react';
import type { Device, DeviceError } from '../../../client/src/realtime.js';
import { useFeed } from '../hooks/use-feed.js';
import { TailView } from './TailView.js';

export function TailApp({ device, match, filter, color, onError }: {
  device: Device;
  match: (t: string) => boolean;
  filter?: string;
  color: boolean;
  onError: (e: DeviceError) => void;
}) {
  const { exit } = useApp();
  const { isRawModeSupported } = useStdin();
  const { items, status } = useFeed(device, match, filter);
  useInput((input) => {
    if (input === 'q') exit();
  }, { isActive: isRawModeSupported === true });
  useEffect(() => {
    const off = device.on('stopped', ({ error }) => {
      if (error) onError(error);
      exit();
    });
    device.start();
    return off;
  }, [device, exit, onError]);
  return <TailView items={items} status={status} color={color} />;
}
