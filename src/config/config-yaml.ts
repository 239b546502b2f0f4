/**
 * The configuration file is written and read back as the daemon's other YAML files are: block
 * mappings of one-line values, read without the YAML library when in exactly that form.
 */
export { blockYaml as configYaml, readBlockYaml as readConfigYaml } from '../store/block-yaml.js';
