// holdfast crds: print the CustomResourceDefinitions as YAML.
import { renderCrds } from '../operator/api/render.js';

export async function run(): Promise<number> {
  process.stdout.write(
    renderCrds()
      .map(([, text]) => text)
      .join('---\n'),
  );
  return 0;
}
