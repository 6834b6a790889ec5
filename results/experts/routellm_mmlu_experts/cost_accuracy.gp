set terminal svg size 720,480 noenhanced
set output 'results/experts/routellm_mmlu_experts/cost_accuracy.svg'
set title 'routellm_mmlu: cost and accuracy (10 seeds, test)'
set xlabel 'price per 1,000 queries'
set ylabel 'accuracy'
set key bottom right
set grid
plot 'results/experts/routellm_mmlu_experts/curves.dat' index 0 with linespoints title 'random', 'results/experts/routellm_mmlu_experts/curves.dat' index 1 with linespoints title 'cascade', 'results/experts/routellm_mmlu_experts/curves.dat' index 2 with linespoints title 'bayes plugin', 'results/experts/routellm_mmlu_experts/curves.dat' index 3 with linespoints title 'two stage', 'results/experts/routellm_mmlu_experts/curves.dat' index 4 with lines dashtype 2 title 'oracle (hindsight)', 'results/experts/routellm_mmlu_experts/curves.dat' index 5 with points pointsize 1.6 pointtype 7 title 'gpt4', 'results/experts/routellm_mmlu_experts/curves.dat' index 6 with points pointsize 1.6 pointtype 7 title 'mixtral'
