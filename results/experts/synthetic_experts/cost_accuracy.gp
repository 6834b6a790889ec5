set terminal svg size 720,480 noenhanced
set output 'results/experts/synthetic_experts/cost_accuracy.svg'
set title 'synthetic_experts: cost and accuracy (10 seeds, test)'
set xlabel 'price per 1,000 queries'
set ylabel 'accuracy'
set key bottom right
set grid
plot 'results/experts/synthetic_experts/curves.dat' index 0 with linespoints title 'random', 'results/experts/synthetic_experts/curves.dat' index 1 with linespoints title 'cascade', 'results/experts/synthetic_experts/curves.dat' index 2 with linespoints title 'bayes plugin', 'results/experts/synthetic_experts/curves.dat' index 3 with linespoints title 'two stage', 'results/experts/synthetic_experts/curves.dat' index 4 with lines dashtype 2 title 'oracle (hindsight)', 'results/experts/synthetic_experts/curves.dat' index 5 with points pointsize 1.6 pointtype 7 title 'expert_1', 'results/experts/synthetic_experts/curves.dat' index 6 with points pointsize 1.6 pointtype 7 title 'expert_2', 'results/experts/synthetic_experts/curves.dat' index 7 with points pointsize 1.6 pointtype 7 title 'expert_3'
